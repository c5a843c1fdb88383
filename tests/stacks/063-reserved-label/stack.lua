service "web" {
  image = "nginx:1.25",
  labels = { ["graphbuild.project"] = "other" },
}
