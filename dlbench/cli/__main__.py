from dlbench.cli.main import main

main()
