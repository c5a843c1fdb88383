local f = io.open("generated.txt", "w")
