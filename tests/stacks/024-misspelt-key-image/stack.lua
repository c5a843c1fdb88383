image "app" {
  from = "alpine:3.19",
  entrypiont = { "/app" },
  exposes = { 8080 },
}
