-- POST /links/bulk with 1,000 distinct URLs per request, as the bearer of TOKEN. Counts the
-- links the answers report created, so links/s comes from the answers, not assumed.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local batch = 0
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

request = function()
  batch = batch + 1
  local items = {}
  for i = 1, 1000 do
    items[i] = '{"url":"https://example.com/bulk/' .. (id or 0) .. '/' .. batch .. '/' .. i .. '"}'
  end
  return wrk.format(nil, "/links/bulk", nil, '{"links":[' .. table.concat(items, ",") .. ']}')
end

created = 0
response = function(status, headers, body)
  local n = body:match('"created":(%d+)')
  if n then created = created + tonumber(n) end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("created") end
  io.write(string.format("bulk_links_created %d\n", total))
end
