from waymark_cli.main import main

main()
