local chunk = "\27Lua\84\0"
local f = load(chunk)
