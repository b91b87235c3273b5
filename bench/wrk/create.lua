-- POST /links with a distinct URL per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0

request = function()
  n = n + 1
  return wrk.format(nil, "/links", nil, '{"url":"https://example.com/bench/' .. n .. '"}')
end
