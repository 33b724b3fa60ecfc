from migrate.cli.main import main

main()
