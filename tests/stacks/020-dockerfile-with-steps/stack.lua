image "legacy" {
  dockerfile = "Dockerfile",
  run "make",
}
