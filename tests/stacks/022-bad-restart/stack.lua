service "worker" {
  image = "alpine:3.19",
  restart = "on_failure",
}
