local p = io.popen("git rev-parse HEAD")
