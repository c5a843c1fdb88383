local cfg = require "settings"
image "app" { from = cfg.base.image }
