package geo

import (
	"math"
	"sort"
)

// cellDeg is the side of the index's cells in degrees: 0.25° is 28 km of
// latitude and, in metropolitan France, 17–20 km of longitude, so a 25 km
// search looks at 9 to 16 cells.
const (
	cellDeg  = 0.25
	cellRows = 180 / cellDeg
	cellCols = 360 / cellDeg
)

// Index finds the points within some distance of a place without looking
// at every point. Points are ids chosen by the caller (an index into its
// own slice of events or members) with a position; the index keeps them in
// a grid of cells of 0.25° of latitude by 0.25° of longitude, and a search
// looks only at the cells that the circle's bounding box touches, then
// measures each point in them with Distance. It works over the whole
// sphere: overseas France, across the antimeridian (Wallis-et-Futuna is at
// 176–178° W, New Caledonia at 164–168° E) and near the poles.
//
// The zero Index is empty and ready. Add must not run at the same time as
// any other method; searches may run concurrently with each other.
type Index struct {
	cells map[int32][]indexed
	n     int
}

type indexed struct {
	id      int32
	p       Point
	φ, cφ   float64 // latitude in radians and its cosine, as Distance computes them
	x, y, z float64 // on the unit sphere, for a quick first test
}

func newIndexed(id int32, p Point) indexed {
	φ := p.Lat * rad
	cφ := math.Cos(φ)
	sλ, cλ := math.Sincos(p.Lon * rad)
	return indexed{id, p, φ, cφ, cφ * cλ, cφ * sλ, math.Sin(φ)}
}

// Hit is a point an Index search found, and how far it is in kilometres.
type Hit struct {
	ID int32
	Km float64
}

func cellRow(lat float64) int32 {
	r := int32(math.Floor((lat + 90) / cellDeg))
	return min(max(r, 0), cellRows-1)
}

// cellCol wraps any longitude, even beyond ±180°, onto a column.
func cellCol(lon float64) int32 {
	c := int32(math.Floor((lon+180)/cellDeg)) % cellCols
	if c < 0 {
		c += cellCols
	}
	return c
}

// Add puts the point id at p in the index. An id may be added more than
// once, at several places; each is then found separately.
func (ix *Index) Add(id int32, p Point) {
	if ix.cells == nil {
		ix.cells = map[int32][]indexed{}
	}
	k := cellRow(p.Lat)*cellCols + cellCol(p.Lon)
	ix.cells[k] = append(ix.cells[k], newIndexed(id, p))
	ix.n++
}

// Len returns how many points were added.
func (ix *Index) Len() int { return ix.n }

// Within calls fn for each point at most radiusKm from p (by Distance, the
// same as comparing Distance(p, point) <= radiusKm for every point), with
// its distance, in no particular order.
func (ix *Index) Within(p Point, radiusKm float64, fn func(id int32, km float64)) {
	if ix.n == 0 || !(radiusKm >= 0) {
		return
	}
	// The bounding box of the circle (J. P. Matuschek, "Finding Points
	// Within a Distance of a Latitude/Longitude Using Bounding
	// Coordinates", 2010, §3.1–3.4): latitudes φ ± δ for the angular
	// radius δ, and, when no pole is inside, longitudes λ ± asin(sin δ /
	// cos φ). δ is widened by a hair so that rounding never leaves out a
	// point that Distance puts exactly on the circle.
	δ := radiusKm/EarthRadiusKm*(1+1e-9) + 1e-12
	// Points farther than the chord 2 sin(δ/2) are out without computing
	// Distance; the others are measured with it, so the result is exactly
	// what comparing Distance with radiusKm gives.
	chord := 2 * math.Sin(math.Min(δ, math.Pi)/2)
	chord2 := chord * chord
	q := newIndexed(0, p)
	visit := func(k int32) {
		for _, e := range ix.cells[k] {
			dx, dy, dz := e.x-q.x, e.y-q.y, e.z-q.z
			if dx*dx+dy*dy+dz*dz > chord2 {
				continue
			}
			// Distance(p, e.p), with the cosines ready.
			if d := haversine(q.φ, q.cφ, e.φ, e.cφ, (e.p.Lon-p.Lon)*rad); d <= radiusKm {
				fn(e.id, d)
			}
		}
	}
	if δ >= math.Pi {
		for k := range ix.cells {
			visit(k)
		}
		return
	}
	φ := p.Lat * rad
	latMin, latMax := (φ-δ)/rad, (φ+δ)/rad
	allLon := latMin <= -90 || latMax >= 90
	var lonMin, lonMax float64
	if !allLon {
		Δλ := math.Asin(math.Min(1, math.Sin(δ)/math.Cos(φ))) / rad
		lonMin, lonMax = p.Lon-Δλ, p.Lon+Δλ
	}
	r0, r1 := cellRow(latMin), cellRow(latMax)
	c0 := int32(math.Floor((lonMin + 180) / cellDeg))
	c1 := int32(math.Floor((lonMax + 180) / cellDeg))
	if allLon || c1-c0+1 >= cellCols {
		c0, c1 = 0, cellCols-1
	}
	// With few cells in use, scanning them all beats probing many empty
	// ones.
	if int(r1-r0+1)*int(c1-c0+1) > 2*len(ix.cells) {
		for k := range ix.cells {
			if r := k / cellCols; r >= r0 && r <= r1 && inCols(k%cellCols, c0, c1) {
				visit(k)
			}
		}
		return
	}
	for r := r0; r <= r1; r++ {
		for c := c0; c <= c1; c++ {
			col := c % cellCols
			if col < 0 {
				col += cellCols
			}
			visit(r*cellCols + col)
		}
	}
}

// inCols reports whether column col lies in the range c0..c1 (c1 - c0 <
// cellCols), which may run past either end of the columns and wrap.
func inCols(col, c0, c1 int32) bool {
	off := (col - c0) % cellCols
	if off < 0 {
		off += cellCols
	}
	return off <= c1-c0
}

// Near returns the points at most radiusKm from p, nearest first (ties by
// id).
func (ix *Index) Near(p Point, radiusKm float64) []Hit {
	var hits []Hit
	ix.Within(p, radiusKm, func(id int32, km float64) { hits = append(hits, Hit{id, km}) })
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Km != hits[j].Km {
			return hits[i].Km < hits[j].Km
		}
		return hits[i].ID < hits[j].ID
	})
	return hits
}
