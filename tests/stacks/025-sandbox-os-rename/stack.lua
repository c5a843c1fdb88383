os.rename("a", "b")
