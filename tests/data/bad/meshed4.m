function mpc = meshed4
%MESHED4  A 4-bus feeder with a loop (2-3-4-2); slopt refuses meshed feeders.
mpc.version = '2';
mpc.baseMVA = 10;
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	12.66	1	1	1;
	2	1	0.1	0.06	0	0	1	1	0	12.66	1	1.1	0.9;
	3	1	0.09	0.04	0	0	1	1	0	12.66	1	1.1	0.9;
	4	1	0.12	0.08	0	0	1	1	0	12.66	1	1.1	0.9;
];
%	bus	Pg	Qg	Qmax	Qmin	Vg	mBase	status	Pmax	Pmin
mpc.gen = [
	1	0	0	10	-10	1	100	1	10	0;
];
%	fbus	tbus	r	x	b	rateA	rateB	rateC	ratio	angle	status	angmin	angmax
mpc.branch = [
	1	2	0.0006	0.0003	0	0	0	0	0	0	1	-360	360;
	2	3	0.0030	0.0015	0	0	0	0	0	0	1	-360	360;
	3	4	0.0023	0.0012	0	0	0	0	0	0	1	-360	360;
	4	2	0.0051	0.0044	0	0	0	0	0	0	1	-360	360;
];
