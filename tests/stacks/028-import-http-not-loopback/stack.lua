project "shop"
local web = import "http://example.com/stacks/web.lua#sha256=0b4f3ff4f3c6a2e0c5b9d2b0a1b1b0c9d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
