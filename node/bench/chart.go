package bench

import (
	"image"
	"image/color"
	"image/png"
	"os"
)

// Bar is one horizontal bar of a chart.
type Bar struct {
	Label string
	Value float64
	Text  string // printed after the bar
	Ref   bool   // a reference figure (a peer's), drawn grey
}

// Chart is a horizontal bar chart drawn with the standard library only (image/png and a 3×5
// pixel font): the figures are few, and a plotting module would add a dependency tree to go.mod
// for four bar charts.
type Chart struct {
	Title string
	Bars  []Bar
}

const (
	scale   = 2  // font pixel size
	advance = 4  // glyph advance in font pixels
	rowH    = 26 // pixels per bar row
	labelW  = 260
	barW    = 420
	width   = labelW + barW + 180
)

var (
	ink   = color.RGBA{0x22, 0x22, 0x22, 0xff}
	blue  = color.RGBA{0x2f, 0x6f, 0xb3, 0xff}
	grey  = color.RGBA{0xa0, 0xa0, 0xa0, 0xff}
	paper = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	for _, r := range s {
		g := glyph(r)
		for row := 0; row < 5; row++ {
			for col := 0; col < 3; col++ {
				if g[row][col] != '#' {
					continue
				}
				for dy := 0; dy < scale; dy++ {
					for dx := 0; dx < scale; dx++ {
						img.Set(x+col*scale+dx, y+row*scale+dy, c)
					}
				}
			}
		}
		x += advance * scale
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Set(x, y, c)
		}
	}
}

// WritePNG renders the chart into path.
func (ch Chart) WritePNG(path string) error {
	h := 40 + rowH*len(ch.Bars) + 10
	img := image.NewRGBA(image.Rect(0, 0, width, h))
	fill(img, img.Bounds(), paper)
	text(img, 10, 12, ch.Title, ink)
	maxV := 0.0
	for _, b := range ch.Bars {
		maxV = max(maxV, b.Value)
	}
	for i, b := range ch.Bars {
		y := 40 + i*rowH
		text(img, 10, y+8, b.Label, ink)
		w := 1
		if maxV > 0 {
			w = max(1, int(b.Value/maxV*barW))
		}
		c := blue
		if b.Ref {
			c = grey
		}
		fill(img, image.Rect(labelW, y+2, labelW+w, y+rowH-4), c)
		text(img, labelW+w+8, y+8, b.Text, ink)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
