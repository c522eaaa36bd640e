import StscacheCommands
StscacheMain.run()
