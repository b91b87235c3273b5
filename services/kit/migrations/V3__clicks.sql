-- clicks: written by the redirect service, read (through the rollups) by links for stats.

-- Raw clicks, one row each, partitioned by day. The redirect service creates partitions
-- ahead of time and drops them after CLICK_RETENTION_DAYS; the default partition catches
-- a click whose day has no partition (a skewed clock) so a batch never fails for it.
CREATE TABLE clicks (
    at             timestamptz NOT NULL,
    link_id        bigint NOT NULL,
    referrer_host  text,
    agent_class    text NOT NULL CHECK (agent_class IN ('bot', 'mobile', 'desktop', 'other')),
    country        text
) PARTITION BY RANGE (at);

CREATE TABLE clicks_default PARTITION OF clicks DEFAULT;

-- Hourly rollup per link and agent class: totals, series and agent classes read this,
-- never the raw rows.
CREATE TABLE click_counts (
    link_id      bigint NOT NULL,
    bucket       timestamptz NOT NULL,
    agent_class  text NOT NULL,
    clicks       bigint NOT NULL,
    PRIMARY KEY (link_id, bucket, agent_class)
);

-- Daily rollup per link and referrer host ('' for none), for top referrers.
CREATE TABLE click_referrers (
    link_id        bigint NOT NULL,
    day            date NOT NULL,
    referrer_host  text NOT NULL,
    is_bot         boolean NOT NULL,
    clicks         bigint NOT NULL,
    PRIMARY KEY (link_id, day, referrer_host, is_bot)
);
