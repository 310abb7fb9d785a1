from trtbuild.cli.main import main

main()
