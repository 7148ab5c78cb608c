-- wrk script: send DEPTH requests back to back on each connection before
-- reading the responses (HTTP/1.1 pipelining). Usage: wrk -s pipeline.lua URL -- 16
local batch

init = function(args)
  local depth = tonumber(args[1]) or 16
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format(nil)
  end
  batch = table.concat(parts)
end

request = function()
  return batch
end
