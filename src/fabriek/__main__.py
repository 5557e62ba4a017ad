from fabriek.cli.main import main

main()
