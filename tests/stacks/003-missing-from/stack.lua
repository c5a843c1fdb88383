local base = image "base" { from = "debian:bookworm" }

image "app" {
  workdir "/app",
  copy "src/",
  run "make",
}
