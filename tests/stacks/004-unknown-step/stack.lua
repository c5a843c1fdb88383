image "app" {
  from = "alpine:3.19",
  runn "apk add curl",
}
