local debian = require "stacks.debian"

image "b" {
  from = debian.rootfs { include = "python3" },
}
