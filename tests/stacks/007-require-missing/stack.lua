project "shop"
local debian = require "stacks.nope"
