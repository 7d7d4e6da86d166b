MODULE CellEgmSeam
    !=====================================================================================
    ! TEMPLATE: ABB EGM path correction for a cellctl welding cell (issue 18).
    !
    ! Written after the path-correction examples in ABB's "Application manual - Externally
    ! Guided Motion" (EGMSetupUC \PathCorr, EGMActMove, EGMMoveL / EGMMoveC) and the RAPID
    ! reference manual. It has NOT been run on a robot: it is a starting point for the
    ! commissioning engineer, not a program to load as it is. Check every instruction and
    ! optional argument against the manuals of the RobotWare version on the robot, and
    ! replace the tool, work object, targets, speeds and signal names with the cell's own.
    !
    ! What the cell controller (cellctl) expects from the job (docs/robots/abb/README.md):
    ! - it streams EGM feedback while the seam runs (EGMStreamStart) and takes path
    !   corrections from the controller's UDP port: lateral = y, vertical = z of the path
    !   coordinates, absolute offsets from the taught path, at the torch (\APTR);
    ! - it reports ready / at seam start / at seam end / job done / job fault, and waits for
    !   "seam go" before it runs the seam and after it (the controller switches the arc);
    ! - hold and stop come from the cell PLC and act through interrupts (StopMove).
    !=====================================================================================

    ! -- EGM: these must match robot.abb_egm in the cell's cell.yaml ------------------------
    ! sample_rate_ms (a multiple of 4 ms)
    CONST num EGM_SAMPLE_RATE_MS := 4;
    ! comm_timeout_ms / 1000: no sensor message this long stops the robot (ERR_UDPUC_COMM)
    CONST num EGM_COMM_TIMEOUT_S := 0.1;
    ! The UdpUc device (SIO configuration, SIO_EGM.cfg) and the External Motion Interface
    ! Data instance for path correction (Motion configuration, see README.md)
    CONST string EGM_DEVICE := "UCdevice";
    CONST string EGM_MOTION_DATA := "pathcorr";
    VAR egmident egmSeam;

    ! -- the cell: replace with the cell's tool, fixture and taught targets ----------------
    PERS tooldata tWeldGun := [TRUE,[[0,0,400],[1,0,0,0]],[5,[0,0,150],[1,0,0,0],0,0,0]];
    PERS wobjdata wobjFixture := [FALSE,TRUE,"",[[800,0,600],[1,0,0,0]],[[0,0,0],[1,0,0,0]]];
    CONST jointtarget jHome := [[0,0,0,0,30,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    ! Job 1, BRACKET_A12_S1 (a part program's robot_job; its number is robot.jobs in
    ! cell.yaml): a line, then an arc through a via point; taught from the part program's
    ! seam path (the part frame is the work object).
    CONST robtarget pS1Approach := [[300,0,58],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Start := [[300,0,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Corner := [[360,0,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Via := [[388.3,11.7,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1End := [[400,40,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Depart := [[400,40,58],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    ! The WPS travel speed (mm/s) is the robot's: the part program's speed, taught here.
    CONST speeddata vWeld := [8,30,5000,1000];

    ! -- the job signals, wired through the cell PLC (cell.yaml plc.registers robot_*) -----
    ! Robot inputs (PLC outputs): giJobNumber (robot_job_number), diJobStart
    ! (robot_job_start), diSeamGo (robot_seam_go), diHold (robot_hold), diStop (robot_stop).
    ! Robot outputs (PLC inputs): doReady (robot_ready), doAtSeamStart (robot_at_seam_start),
    ! doAtSeamEnd (robot_at_seam_end), doJobDone (robot_job_done), doJobFault
    ! (robot_job_fault). Define them in the robot's I/O configuration.
    VAR intnum irHold;
    VAR intnum irStop;

    PROC main()
        IDelete irHold;
        CONNECT irHold WITH trHold;
        ISignalDI diHold,1,irHold;
        IDelete irStop;
        CONNECT irStop WITH trStop;
        ISignalDI diStop,1,irStop;
        Reset doAtSeamStart;
        Reset doAtSeamEnd;
        Reset doJobDone;
        Reset doJobFault;
        MoveAbsJ jHome,v500,fine,tWeldGun;
        SetDO doReady,1;
        WaitDI diJobStart,1;
        SetDO doReady,0;
        TEST giJobNumber
        CASE 1:
            Job_BRACKET_A12_S1;
        DEFAULT:
            ErrWrite "cellctl job","Unknown job number "+ValToStr(giJobNumber);
            SetDO doJobFault,1;
        ENDTEST
        MoveAbsJ jHome,v500,fine,tWeldGun;
        SetDO doJobDone,1;
        WaitDI diJobStart,0;
        Reset doJobDone;
    ENDPROC

    PROC Job_BRACKET_A12_S1()
        MoveJ pS1Approach,v500,z10,tWeldGun\WObj:=wobjFixture;
        MoveL pS1Start,v100,fine,tWeldGun\WObj:=wobjFixture;
        EgmSeamOn;
        ! At the seam start: the controller switches the arc on, then sets seam go.
        SetDO doAtSeamStart,1;
        WaitDI diSeamGo,1;
        Reset doAtSeamStart;
        ! The seam, with the controller's path correction overlaid by EGM.
        EGMMoveL egmSeam,pS1Corner,vWeld,z1,tWeldGun\WObj:=wobjFixture;
        EGMMoveC egmSeam,pS1Via,pS1End,vWeld,fine,tWeldGun\WObj:=wobjFixture;
        ! At the seam end: the controller fills the crater, switches the arc off, drops go.
        SetDO doAtSeamEnd,1;
        WaitDI diSeamGo,0;
        Reset doAtSeamEnd;
        EgmSeamOff;
        MoveL pS1Depart,v200,z10,tWeldGun\WObj:=wobjFixture;
    ERROR
        IF ERRNO=ERR_UDPUC_COMM THEN
            ! No path correction for EGM_COMM_TIMEOUT_S: EGM has stopped the robot on its
            ! path. The controller sees MCI state ERROR in the stream (or the stream gone),
            ! takes the arc off and waits for a person; the job ends with a fault.
            SetDO doJobFault,1;
            EgmSeamOff;
            ExitCycle;
        ENDIF
        RAISE;
    ENDPROC

    PROC EgmSeamOn()
        ! Path correction at the torch (\APTR: the correction is for the point the tool is
        ! at; the controller has already moved the laser's look-ahead to the torch).
        EGMReset egmSeam;
        EGMGetId egmSeam;
        EGMSetupUC ROB_1,egmSeam,EGM_MOTION_DATA,EGM_DEVICE\PathCorr\APTR\CommTimeout:=EGM_COMM_TIMEOUT_S;
        ! Feedback streams from here on, also while the robot waits at the seam start: the
        ! controller answers every message, so the comm timeout never runs out while it waits.
        EGMStreamStart egmSeam\SampleRate:=EGM_SAMPLE_RATE_MS;
        ! The sensor frame is the tool frame. egm.proto: the correction is "relative the sensor
        ! tool coordinate system"; check the signs of y (lateral, left of travel) and z (up)
        ! on a dry run and turn this frame if they are mirrored (README, "Checked against").
        EGMActMove egmSeam,tWeldGun.tframe\SampleRate:=EGM_SAMPLE_RATE_MS;
    ENDPROC

    PROC EgmSeamOff()
        EGMStreamStop egmSeam;
        EGMReset egmSeam;
    ENDPROC

    TRAP trHold
        ! robot_hold: stop on the path, keep the job; go on where it stopped when released.
        StopMove;
        WaitDI diHold,0;
        StartMove;
    ENDTRAP

    TRAP trStop
        ! robot_stop: stop, drop the path, end the job; main starts over (ready again).
        StopMove\Quick;
        ClearPath;
        EgmSeamOff;
        StartMove;
        ExitCycle;
    ENDTRAP
ENDMODULE
