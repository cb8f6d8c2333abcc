# The soak run's four series over time, one panel each (bench/soak/run.sh):
#   gnuplot -e "csv='docs/soak.csv'; png='docs/soak.png'; title='...'" bench/soak/plot.gp
set datafile separator ","
set terminal pngcairo size 1000,1100 font ",10"
set output png
set multiplot layout 4,1 title title
set grid
set key top left
set xlabel "minutes"
set yrange [0:*]
set xrange [0:*]
set offsets 0, 0, graph 0.1, 0

set ylabel "MiB"
plot csv using ($1/60):2 skip 1 with lines lw 2 title "resident memory (RSS)"

set ylabel "descriptors"
plot csv using ($1/60):3 skip 1 with lines lw 2 title "open file descriptors"

set ylabel "ms"
plot csv using ($1/60):7 skip 1 with lines lw 2 title "ack latency p99 (each 10 s)", \
     csv using ($1/60):6 skip 1 with lines lw 1 title "ack latency p50"

set ylabel "ms"
plot csv using ($1/60):8 skip 1 with lines lw 2 title "commit time, mean (each 10 s)", \
     csv using ($1/60):9 skip 1 with steps lw 1 title "commit time p99 (histogram bucket bound)"

unset multiplot
