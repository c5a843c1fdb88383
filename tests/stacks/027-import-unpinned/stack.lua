project "shop"
local web = import "https://example.com/stacks/web.lua"
