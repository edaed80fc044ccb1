package extract

import "database/sql/driver"

var errBadConn = driver.ErrBadConn
