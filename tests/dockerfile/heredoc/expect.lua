local app = image "app" {
  from = "busybox:1.36",
  run "set -e\necho one > /one\n",
  run "cat > /conf <<-'END' && echo done\nliteral $HOME\nEND",
}
return app
