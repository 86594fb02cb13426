from archinspect.cli.app import main

main()
