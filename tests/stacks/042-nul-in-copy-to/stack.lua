image "app" {
  from = "busybox:1.36",
  copy { "stack.lua", to = "/a\0b" },
}
