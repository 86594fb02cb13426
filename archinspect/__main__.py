from archinspect.cli import main

main()
