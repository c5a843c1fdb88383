local rev = os.execute("git rev-parse HEAD")
