package store

import "github.com/clientportal/portal/internal/portal"

// CursorOf is the cursor ListUsers gives u in order o.
func CursorOf(u *portal.User, o portal.UserOrder) portal.Cursor { return toUserRow(u).cursor(o) }
