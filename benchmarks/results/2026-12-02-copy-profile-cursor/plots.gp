set terminal pngcairo size 1100,700 noenhanced
set logscale x 2
set key outside right top
set grid
set datafile missing NaN
set output 'bandwidth.png'
set xtics rotate by -35 ('4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576, '4 MiB' 4194304)
set xlabel 'message size'
set ylabel 'MB/s'
set logscale y 10
plot 'bw-ib_read_bw.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#1f77b4' pointtype 4 title 'stock ib_read_bw', 'bw-ib_read_bw.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#1f77b4' pointtype 5 title 'ours ib_read_bw', 'bw-ib_send_bw.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#d62728' pointtype 4 title 'stock ib_send_bw', 'bw-ib_send_bw.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#d62728' pointtype 5 title 'ours ib_send_bw', 'bw-ib_write_bw.dat' using 1:2:3:4 with yerrorlines dashtype 2 linecolor rgb '#2ca02c' pointtype 4 title 'stock ib_write_bw', 'bw-ib_write_bw.dat' using 1:5:6:7 with yerrorlines dashtype 1 linecolor rgb '#2ca02c' pointtype 5 title 'ours ib_write_bw', 1818 with lines dashtype 3 linewidth 2 linecolor rgb 'black' title 'in-guest memcpy (ours), 1,818 MB/s'
