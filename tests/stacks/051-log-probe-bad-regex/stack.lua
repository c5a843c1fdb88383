service "web" {
  image = "nginx:1.25",
  health = log "(",
}
