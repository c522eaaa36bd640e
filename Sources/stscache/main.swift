import StscacheKit
StscacheMain.run()
