-- POST /links with a distinct URL per request, as the bearer of TOKEN when it is set, or
-- with the API key API_KEY (X-Api-Key).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
local key = os.getenv("API_KEY")
if key and #key > 0 then wrk.headers["X-Api-Key"] = key end
local n = 0

request = function()
  n = n + 1
  return wrk.format(nil, "/links", nil, '{"url":"https://example.com/bench/' .. n .. '"}')
end
