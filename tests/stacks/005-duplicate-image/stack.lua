image "tools" {
  from = "alpine:3.19",
  run "apk add git",
}

image "tools" {
  from = "alpine:3.19",
  run "apk add git curl",
}
