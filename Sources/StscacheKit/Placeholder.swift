public enum StscacheMain { public static func run() {} }
