package graph

import (
	"encoding/base64"

	qrcode "github.com/skip2/go-qrcode"
)

// qrDataURL renders text (an otpauth:// URL) as a QR code PNG in a data:
// URL, so a frontend shows it with a plain <img> and needs no QR library.
func qrDataURL(text string) (string, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
