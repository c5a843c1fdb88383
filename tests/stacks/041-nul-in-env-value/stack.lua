local bb = "busybox:1.36"
image "app" {
  from = bb,
  env { A = "x\0y" },
}
