// Package paretoplot draws the plot behind `meridian plan --plot`: the cost
// of every feasible placement against its time to result, the Pareto front
// of the two joined by a line, and the chosen placement ringed on its
// point, as SVG or PNG.
//
// It is a writer for this one plot, not a plotting library: a log-scale
// time axis, a linear cost axis, three kinds of marks and a legend. The
// layout is computed once, in pixels, and replayed onto either surface
// (svg.go writes elements, raster.go fills an image), so a mark sits at the
// same coordinates in both. Text uses one face, Go Regular, embedded for
// the PNG and named for the SVG.
//
// Values that a log axis cannot hold (a time of zero, below zero, or not
// finite) or that are not finite are not drawn; the plot says how many.
package paretoplot
