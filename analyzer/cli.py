def main():
    print("qlint")
