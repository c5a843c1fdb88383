os.remove("old.tar")
