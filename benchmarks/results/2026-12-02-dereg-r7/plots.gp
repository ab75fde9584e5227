set terminal pngcairo size 1100,700 noenhanced
set logscale x 2
set key outside right top
set grid
set datafile missing NaN
set output 'footprint.png'
set xtics rotate by -35 ('4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576, '16 MiB' 16777216, '256 MiB' 268435456, '1 GiB' 1073741824)
set xlabel 'MR size'
set ylabel 'kernel bytes per registered GiB'
set logscale y 10
plot 'footprint-anon-contiguous.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#1f77b4' pointtype 4 title 'stock anon-contiguous', 'footprint-anon-contiguous.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#1f77b4' pointtype 5 title 'ours anon-contiguous', 'footprint-anon-fragmented.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#d62728' pointtype 4 title 'stock anon-fragmented', 'footprint-anon-fragmented.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#d62728' pointtype 5 title 'ours anon-fragmented'
set output 'reg-latency.png'
set xtics rotate by -35 ('4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576, '16 MiB' 16777216, '256 MiB' 268435456, '1 GiB' 1073741824)
set xlabel 'MR size'
set ylabel 'ibv_reg_mr time (ns)'
set logscale y 10
plot 'reg-latency-anon-contiguous.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#1f77b4' pointtype 4 title 'stock anon-contiguous', 'reg-latency-anon-contiguous.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#1f77b4' pointtype 5 title 'ours anon-contiguous', 'reg-latency-anon-fragmented.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#d62728' pointtype 4 title 'stock anon-fragmented', 'reg-latency-anon-fragmented.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#d62728' pointtype 5 title 'ours anon-fragmented'
