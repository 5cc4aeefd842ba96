-- GET one path of PATHS_FILE (one a line) at random per request: bench/scale's request
-- shapes (ids, cursors and filter values prepared per database). See common.lua for env.
local C = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local paths
function init(args)
  C.init()
  paths = C.lines(os.getenv("PATHS_FILE"))
  assert(#paths > 0, "PATHS_FILE has no paths")
end
function request()
  return wrk.format("GET", paths[math.random(1, #paths)])
end
