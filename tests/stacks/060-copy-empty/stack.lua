image "app" {
  from = "busybox:1.36",
  copy "",
}
