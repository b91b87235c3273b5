-- GET /links/<code> with a code drawn from CODES_FILE, as the bearer of TOKEN when it is set.
local codes = {}
local token = os.getenv("TOKEN")

init = function(args)
  for line in io.lines(os.getenv("CODES_FILE")) do
    if #line > 0 then codes[#codes + 1] = line end
  end
  math.randomseed(os.time())
end

request = function()
  local headers = {}
  if token and #token > 0 then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", "/links/" .. codes[math.random(#codes)], headers)
end
