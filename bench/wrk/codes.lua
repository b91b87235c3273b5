-- GET /<code> with a code drawn uniformly from the file named by CODES_FILE.
local codes = {}

init = function(args)
  local path = os.getenv("CODES_FILE")
  for line in io.lines(path) do
    if #line > 0 then codes[#codes + 1] = line end
  end
  math.randomseed(os.time())
end

request = function()
  return wrk.format("GET", "/" .. codes[math.random(#codes)])
end
